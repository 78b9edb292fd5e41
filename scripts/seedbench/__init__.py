"""Building blocks of scripts/bench_seed.py: the seed-shaped monorepo, its merges, the dev-ci steps
and the model of the costs that cannot be measured on this machine."""
