"""`wellgate plan set`: a year's water plan (计划用水) as a signed command record in the store."""

from __future__ import annotations

import click

from gateway.cli.options import config_option


def _shares(text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a list of numbers; expected m³ per share "
                                 "separated by commas, e.g. 100,100,150,50",
                                 param_hint="--shares") from None


@click.group("plan")
def plan() -> None:
    """The annual water plan (计划用水): a new year's plan as a signed record; `wellgate totals`
    shows use against it.

    \b
    Example:
      wellgate plan set --config site.toml --year 2027 --annual 12000 --source "bureau 2027-04"
    """


@plan.command("set")
@config_option()
@click.option("--year", type=click.IntRange(2000, 2100), required=True,
              help="The calendar year in the well's time zone.")
@click.option("--annual", "annual_m3", type=click.FloatRange(min=0, min_open=True),
              required=True, help="The year's plan, m³.")
@click.option("--period", type=click.Choice(["month", "quarter"]), default="month",
              show_default=True, help="The shares are per month or per quarter.")
@click.option("--shares", help="12 (month) or 4 (quarter) shares in m³, comma-separated, "
                               "adding up to --annual (default: even shares).")
@click.option("--source", required=True, help="Where the plan comes from (the bureau's "
                                              "notice), for the record.")
@click.option("--origin", type=click.Choice(["installer", "platform"]), default="installer",
              show_default=True, help="Who issued it: typed on site, or carried from the "
                                      "platform.")
def plan_set(config_file: str, year: int, annual_m3: float, period: str, shares: str | None,
             source: str, origin: str) -> None:
    """Record YEAR's water plan: the gateway's accounting takes it up (warnings at the year's
    and the period's percentages, the cut-off at the year's plan where pump control is on).
    A later plan for the same year replaces this one.

    \b
    Example:
      wellgate plan set --config site.toml --year 2027 --annual 12000 --source "bureau 2027-04"
      wellgate plan set --config site.toml --year 2027 --annual 400 --period quarter \\
          --shares 100,100,150,50 --source "bureau 2027-04"
    """
    from gateway.accounting.water_plan import PlanError, YearPlan, even_shares
    from gateway.cli.accounting import _command

    given = _shares(shares)
    try:
        year_plan = YearPlan(year, annual_m3, period,
                             given if given is not None else even_shares(annual_m3, period),
                             source, origin)
    except PlanError as error:
        raise click.BadParameter(str(error), param_hint="--shares") from None
    _command(config_file, "water_plan", year, year_plan.to_data())
