"""Analysis over scored results: breakdowns, entropy, plotted reports and the leaderboard.

Submodules import pandas / matplotlib / scikit-image at module level, so nothing is imported
here: `import m3vos.analysis` stays cheap and `m3vos --help` never pays for them.

- `breakdowns`: `add_breakdowns(results, dataset, names)` and the declared breakdowns
- `table`: the per-object table every breakdown groups
- `attributes`: size / velocity / length / entropy from the ground truth, cached per dataset
- `entropy`: the official h_LBP statistic and m3vos's per-object LBP entropy
- `leaderboard`: ranking result folders with bootstrap intervals and a CI gate
- `report`: plotted HTML / markdown reports
"""
