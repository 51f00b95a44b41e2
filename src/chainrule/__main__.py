"""``python -m chainrule``: the ``chainrule`` command (`chainrule.cli`)."""

from chainrule.cli import main

if __name__ == "__main__":
    main()
