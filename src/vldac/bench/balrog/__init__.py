"""BALROG's agentic games, reimplemented from its published description and code (BALROG itself
pins gym 0.23 and forks of the games and downloads data when installed, so it is not a dependency).

Each environment is a family of tasks with BALROG's episode count per task, step limit and
progression metric (0..1 per episode); ``ENVIRONMENTS`` lists them in the order the table prints
them. Where vldac's version differs from BALROG's, the README says how.
"""
