"""CLI commands whose work lives in other modules: batch, eval, slack, mcp, doctor.

Each imports its module only when run, so `advisor search` does not pay for Slack or matplotlib.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .options import BaseUrlOpt, EngineOpt, ModelOpt, settings


def register(app: typer.Typer) -> None:

    @app.command()
    def batch(input: str = typer.Argument(..., metavar="IN", help="JSONL or CSV with id,description; - for stdin."),
              out: Path = typer.Option(..., "--out", help="Output JSONL (appended, flushed per row)."),
              concurrency: int = typer.Option(1, "--concurrency", min=1, max=64, help="Rows in flight (LLM engine)."),
              resume: bool = typer.Option(False, "--resume", help="Skip ids already in OUT."),
              report: Optional[Path] = typer.Option(None, "--report", help="Write a summary with charts to DIR."),
              openai_batch: bool = typer.Option(False, "--openai-batch", help="Use OpenAI's Batch API."),
              workers: Optional[int] = typer.Option(None, "--workers", min=1, max=64,
                                                    help="Processes for the offline engine (default: one per core)."),
              engine: Optional[str] = EngineOpt, model: Optional[str] = ModelOpt,
              base_url: Optional[str] = BaseUrlOpt):
        """Recommend for many project descriptions at once."""
        from ..batch.run import run_batch

        code = run_batch(settings(model, base_url, None, engine), input, out, engine=engine,
                         concurrency=concurrency, resume=resume, report=report, openai_batch=openai_batch,
                         workers=workers)
        raise typer.Exit(code)

    @app.command(name="eval")
    def eval_(suite: Optional[Path] = typer.Option(None, "--suite", help="Case file or folder (default: bundled golden suite)."),
              as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
              report: Optional[Path] = typer.Option(None, "--report", help="Write markdown, JSON and PNG charts to DIR."),
              baseline: Optional[Path] = typer.Option(None, "--baseline", help="Compare with a saved result; non-zero exit on regression."),
              keep_going: bool = typer.Option(False, "--keep-going", help="Skip malformed cases instead of stopping."),
              save_baseline: Optional[Path] = typer.Option(None, "--save-baseline", help="Write this run's result as a baseline file."),
              engine: Optional[str] = EngineOpt, model: Optional[str] = ModelOpt,
              base_url: Optional[str] = BaseUrlOpt):
        """Run the golden-case suite and report the metrics."""
        from evals.runner import run_eval

        code = run_eval(settings(model, base_url, None, engine), suite=suite, engine=engine, as_json=as_json,
                        report=report, baseline=baseline, keep_going=keep_going, save_baseline=save_baseline)
        raise typer.Exit(code)

    @app.command()
    def slack(port: int = typer.Option(3000, "--port", min=1, max=65535, help="HTTP port for Slack's requests."),
              host: str = typer.Option("127.0.0.1", "--host",
                                       help="Address to listen on (0.0.0.0: every interface; behind a TLS proxy)."),
              socket: bool = typer.Option(False, "--socket", help="Use Socket Mode (SLACK_APP_TOKEN)."),
              engine: Optional[str] = EngineOpt, model: Optional[str] = ModelOpt,
              base_url: Optional[str] = BaseUrlOpt):
        """Serve the Slack bot."""
        from ..slack.app import serve

        serve(settings(model, base_url, None, engine), port=port, socket=socket, engine=engine, host=host)

    @app.command()
    def mcp(http: bool = typer.Option(False, "--http", help="Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio."),
            host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on with --http (loopback by default)."),
            port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port for --http."),
            engine: Optional[str] = EngineOpt, model: Optional[str] = ModelOpt,
            base_url: Optional[str] = BaseUrlOpt):
        """Serve the advisor to MCP hosts (tools, resources, a prompt); stdio by default."""
        from ..mcp.server import serve  # the mcp SDK loads only here, so `advisor --help` stays fast

        serve(settings(model, base_url, None, engine), http=http, host=host, port=port, engine=engine)

    try:
        from .doctor import doctor
    except ImportError:  # pragma: no cover - the LLM engine's module is optional while it is built
        return
    app.command()(doctor)
