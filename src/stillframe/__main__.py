import sys

from stillframe.cli import main

sys.exit(main())
