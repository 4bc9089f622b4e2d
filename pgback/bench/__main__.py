import sys

from pgback.bench.cli import main

sys.exit(main())
