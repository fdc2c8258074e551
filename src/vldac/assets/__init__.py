"""Models shipped inside the package (``model.path: builtin:<name>``)."""
