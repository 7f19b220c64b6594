"""`python -m cstrial`: the command line."""

from cstrial.cli import app

app(prog_name="cstrial")
