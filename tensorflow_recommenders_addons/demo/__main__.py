"""`python -m tensorflow_recommenders_addons.demo`: the same as `tfra-demo`."""

import sys

from tensorflow_recommenders_addons.demo.cli import main

sys.exit(main())
