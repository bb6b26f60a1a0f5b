"""The issue tracker: projects, issues with keys like `OPS-12`, a workflow, and comments."""
