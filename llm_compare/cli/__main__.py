"""`python -m llm_compare.cli`: the same as the `llm-compare` command."""

import sys

from llm_compare.cli.parser import main

sys.exit(main())
