import click


@click.command()
def eval_command() -> None:
    """Not yet written."""
    raise click.ClickException("not yet")
