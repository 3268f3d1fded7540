"""`python -m daemon --op getToDos`."""

from daemon.cli import main

raise SystemExit(main())
