import sys

from faceseg.bench.speed import main

sys.exit(main())
