# IPython kernel configuration, copied by `make setup` into the virtual
# environment (.venv/etc/ipython/, which every kernel started from .venv reads).
#
# Every figure a chapter draws is stored in two forms: SVG, which the site
# shows (sharp at any width or zoom) and PNG, which the PDF edition uses.
# MyST-NB picks one per builder (nb_mime_priority_overrides in _config.yml).
# Sizes and resolution come from book/matplotlibrc.
c = get_config()  # noqa: F821 - defined by IPython when it reads this file
c.InlineBackend.figure_formats = {"svg", "png"}
# No creation date in the SVG files (matplotlib writes the current time by
# default), so that a figure drawn again from the same code is the same file;
# book/matplotlibrc fixes the salt of the SVG element ids for the same reason.
# "tight" is IPython's own default, kept.
c.InlineBackend.print_figure_kwargs = {"bbox_inches": "tight", "metadata": {"Date": None}}
