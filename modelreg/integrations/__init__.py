"""Other tools' APIs over a modelreg registry (each in its extra). They sit above the façade:
they call ``modelreg.registry.Registry`` and nothing under it, and nothing in modelreg imports them."""
