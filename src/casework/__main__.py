"""``python -m casework`` runs the command line."""

from casework.cli import main

main()
