import sys

from devtenant.cli import main

sys.exit(main())
