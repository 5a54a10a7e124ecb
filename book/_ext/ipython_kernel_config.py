# IPython kernel configuration, copied by `make setup` into the virtual
# environment (.venv/etc/ipython/, which every kernel started from .venv reads).
#
# Every figure a chapter draws is stored in two forms: SVG, which the site
# shows (sharp at any width or zoom) and PNG, which the PDF edition uses.
# MyST-NB picks one per builder (nb_mime_priority_overrides in _config.yml).
# Sizes and resolution come from book/matplotlibrc.
c = get_config()  # noqa: F821 - defined by IPython when it reads this file
c.InlineBackend.figure_formats = {"svg", "png"}
