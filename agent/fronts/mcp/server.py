"""`advisor mcp`: the advisor as a Model Context Protocol server (official `mcp` SDK, 2.x).

Tools (JSON-Schema inputs, structured results in the published shapes, schemas/*.v1.json):
`recommend`, `interview_step`, `search_article`, `explain`. Resources: every section as
`article://sections/{id}`, `article://coverage`, and the schemas under `advisor://schemas/`.
A prompt, `interview`, for hosts to offer as a slash command.

It calls only `agent.api.Advisor` (and `agent.types`): the same library the CLI calls, so a bad
input is the CLI's one-line error and every quote was verified by the library before it is sent.
The interview is stateless: the state travels as an HMAC-checked token (agent.store.state_token). A
client that can be asked (form elicitation) is asked directly instead of relaying questions.
"""
import json
import sys
import threading
from importlib import metadata, resources
from typing import Annotated, Any, Callable, Literal, Optional

import anyio
from mcp.server.elicitation import render_elicitation_schema
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resources import FunctionResource
from mcp.shared.exceptions import MCPError
from mcp.types import (CallToolResult, ElicitRequest, ElicitRequestFormParams, ElicitResult, InputRequiredResult,
                       TextContent, ToolAnnotations)
from mcp.types.version import is_version_at_least
from pydantic import BaseModel, Field, ValidationError

from ...api import Advisor
from ...errors import UserError
from ...api import load_key, seal, unseal
from ...types import InterviewState, InterviewStep, Recommendation, SearchResponse, SectionInfo, SectionRef, Turn

NAME = "advisor"
MAX_ASK_ROUNDS = 8  # questions asked directly in one tool call (the SDK client's default cap is 10 rounds)
INPUT_REQUIRED_VERSION = "2026-07-28"
_READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


class _Answer(BaseModel):
    """The form a host shows its user for one interview question."""

    answer: str = Field(description="Your answer in your own words (or: skip, I don't know, why?, back, just recommend).")


_ANSWER_SCHEMA = render_elicitation_schema(_Answer)  # the flat form schema the protocol allows


def _version() -> str:
    try:
        return metadata.version("advisor")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


def _one_line(exc: ValidationError) -> str:
    """A pydantic validation error as the one line a CLI user would get."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "arguments"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "error: invalid arguments: " + "; ".join(parts)


class AdvisorMCP(MCPServer):
    """MCPServer whose tool errors are the CLI's one-line messages, never a traceback."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Optional[Context] = None):
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, UserError):
                line = f"error: {cause}"
            elif isinstance(cause, ValidationError):
                line = _one_line(cause)
            else:
                raise  # a bug: the SDK logs it and sends only "Error executing tool NAME"
            return CallToolResult(content=[TextContent(type="text", text=line.replace("\n", " "))], is_error=True)


class _Front:
    """The tools' bodies: one Advisor, used by one call at a time (it is not thread-safe)."""

    def __init__(self, advisor: Advisor, state_key: bytes):
        self.adv = advisor
        self.key = state_key
        self._lock = threading.Lock()
        self._sections = advisor.sections()

    async def run(self, fn: Callable, *args):
        """Run a (CPU-bound, synchronous) library call off the event loop, one at a time."""
        def locked():
            with self._lock:
                return fn(*args)
        return await anyio.to_thread.run_sync(locked)

    # ------------------------------------------------------------------ interview plumbing
    def cites(self, dim: str) -> list[SectionRef]:
        """The section that a question about `dim` rests on (its primary section)."""
        def primary(s: SectionInfo) -> bool:
            return (s.dimensions + s.aspects)[:1] == [dim]
        ranked = ([s for s in self._sections if primary(s) and s.section_id.startswith(("considerations.", "other-aspects."))]
                  or [s for s in self._sections if primary(s)]
                  or [s for s in self._sections if dim in s.dimensions + s.aspects])
        return [SectionRef(section_id=s.section_id, heading_path=s.heading_path, title_en=s.title_en) for s in ranked[:1]]

    def begin(self, state: Optional[str], answer: Optional[str]) -> tuple[InterviewState, Turn]:
        """Start an interview (answer = the description, if any) or continue one from its token."""
        if state is None or state == "":
            return self.adv.start_interview(answer or "")
        st = unseal(state, self.key)
        if answer is None or not answer.strip():
            return st, self.adv.current_turn(st)
        return st, self.adv.reply(st, answer)

    def answer(self, st: InterviewState, answer: str) -> Turn:
        return self.adv.reply(st, answer)

    def finish(self, st: InterviewState) -> Turn:
        rec = self.adv.finish(st)
        return Turn(kind="recommendation", text="", recommendation=rec)

    def step(self, st: InterviewState, turn: Turn) -> InterviewStep:
        """A library turn as the tool's result (a question carries the sealed state)."""
        if turn.kind == "recommendation":
            rec = turn.recommendation
            return InterviewStep(kind="recommendation", text=turn.text or rec.decision, recommendation=rec,
                                 questions_asked=st.questions_asked)
        question, text = turn.question, turn.text
        if question is None and st.pending:  # an info reply: the pending question still stands
            current = self.adv.current_turn(st)
            question = current.question
        return InterviewStep(kind=turn.kind, text=text, question=question,
                             cites=self.cites(question.dimension) if question else [],
                             state=seal(st, self.key), questions_asked=st.questions_asked)


def _ask_mode(ctx: Context) -> Optional[str]:
    """How this client can be asked directly: 'input_required' (2026-07-28), 'elicit' (older), or None."""
    caps = ctx.client_capabilities
    form = caps is not None and caps.elicitation is not None and (
        caps.elicitation.form is not None or caps.elicitation.url is None)
    if not form:
        return None
    version = ctx.protocol_version
    return "input_required" if version and is_version_at_least(version, INPUT_REQUIRED_VERSION) else "elicit"


def _form_message(step: InterviewStep) -> str:
    q = step.question
    lines = [step.text] if step.kind == "info" else []
    if q is not None:
        lines += [q.question, f"(Why I ask: {q.why})"]
    return "\n".join(lines) or step.text


def _reply_from(action: str, content: Optional[dict]) -> Optional[str]:
    """The interview answer an elicitation result stands for (None: the user cancelled)."""
    if action == "accept":
        text = (content or {}).get("answer")
        return text if isinstance(text, str) and text.strip() else "skip"
    if action == "decline":
        return "skip"
    return None


def build_server(advisor: Advisor, state_key: bytes) -> AdvisorMCP:
    """The MCP server over one Advisor; `state_key` signs interview state tokens."""
    front = _Front(advisor, state_key)
    srv = AdvisorMCP(
        NAME, title="RAG or fine-tuning? advisor", version=_version(), log_level="WARNING",
        instructions=("Advice on whether an LLM project needs RAG, fine-tuning, both or neither, every reason "
                      "quoting one article verbatim. Use `recommend` for a one-shot answer from a description, "
                      "`interview_step` to ask the user only what could change the advice, `search_article` and "
                      "`explain` to read the article. Show quotes exactly as given."))

    @srv.tool(title="Recommend RAG, fine-tuning, both or neither", annotations=_READ_ONLY)
    async def recommend(
        description: Annotated[str, Field(description="The LLM project, in a sentence or more (English or Chinese).")],
        lang: Annotated[Optional[Literal["en", "zh"]], Field(description="Language of the advice (default: the description's).")] = None,
    ) -> Recommendation:
        """One-shot recommendation with verbatim citations, assumptions, open questions and what would change it."""
        return await front.run(advisor.recommend, description, lang)

    @srv.tool(title="Interview the user, one question at a time", annotations=_READ_ONLY)
    async def interview_step(
        ctx: Context,
        state: Annotated[Optional[str], Field(description="The `state` from the previous step, unchanged; omit to start.")] = None,
        answer: Annotated[Optional[str], Field(description="The user's words: the project description when starting, "
                                                           "else the answer to the last question.")] = None,
    ) -> InterviewStep | InputRequiredResult:
        """Next interview question (with why it is asked and an opaque state) or the final recommendation.

        Relay `text` to the user and call again with `state` and their answer. Clients that support
        form elicitation are asked directly and get the recommendation at the end.
        """
        mode = _ask_mode(ctx)
        rounds = 0
        if mode == "input_required" and ctx.request_state:
            carried = json.loads(ctx.request_state)  # sealed by the SDK: written by us
            st, rounds = unseal(carried["s"], state_key), int(carried["r"])
            got = (ctx.input_responses or {}).get("answer")
            reply = _reply_from(got.action, got.content) if isinstance(got, ElicitResult) else None
            if reply is None:
                return await front.run(front.step, st, await front.run(front.adv.current_turn, st))
            turn = await front.run(front.answer, st, reply)
        else:
            st, turn = await front.run(front.begin, state, answer)
        while mode is not None and turn.kind != "recommendation":
            if rounds >= MAX_ASK_ROUNDS:
                turn = await front.run(front.finish, st)
                break
            step = await front.run(front.step, st, turn)
            message = _form_message(step)
            if mode == "input_required":
                form = ElicitRequestFormParams(message=message, requested_schema=_ANSWER_SCHEMA)
                return InputRequiredResult(input_requests={"answer": ElicitRequest(params=form)},
                                           request_state=json.dumps({"s": step.state, "r": rounds + 1}))
            try:
                result = await ctx.elicit(message, schema=_Answer)
            except (ValueError, MCPError):  # the client could not ask after all: the host relays instead
                return step
            reply = _reply_from(result.action, {"answer": result.data.answer} if result.action == "accept" else None)
            if reply is None:
                return step  # cancelled: hand the question back to the host to relay
            rounds += 1
            turn = await front.run(front.answer, st, reply)
        return await front.run(front.step, st, turn)

    @srv.tool(title="Search the article", annotations=_READ_ONLY)
    async def search_article(
        query: Annotated[str, Field(description="A question or keywords, in English or Chinese.")],
        k: Annotated[int, Field(ge=1, le=50, description="How many passages (one per section).")] = 5,
    ) -> SearchResponse:
        """Ranked passages of the article, each with its section id, heading path and source offsets."""
        return await front.run(advisor.search, query, k)

    @srv.tool(title="Explain a section of the article", annotations=_READ_ONLY)
    async def explain(
        section_id: Annotated[str, Field(description="A section id, e.g. considerations.external-knowledge "
                                                     "(see search_article results or article://coverage).")],
    ) -> SectionInfo:
        """A section's verbatim text with its heading path, English title and English summary."""
        return await front.run(advisor.section, section_id)

    _add_resources(srv, advisor)

    @srv.prompt(title="Interview: RAG, fine-tuning, both or neither?")
    def interview(description: Annotated[Optional[str], Field(description="Your project, if you want to start with it.")] = None) -> str:
        """Start an advisor interview about your LLM project."""
        template = (resources.files("prompts") / "mcp_interview.v1.md").read_text("utf-8")
        line = (f"The user's project, to pass as the first `answer`: {description.strip()}" if description and description.strip()
                else "Ask the user to describe their LLM project in a sentence or two, then start.")
        return template.replace("{description_line}", line)

    return srv


def _add_resources(srv: MCPServer, advisor: Advisor) -> None:
    """Every section, the coverage map and the published schemas, as readable resources."""
    from ...api import SCHEMAS

    for sec in advisor.sections():
        srv.add_resource(FunctionResource(
            uri=f"article://sections/{sec.section_id}", name=sec.section_id, title=sec.title_en,
            description=f"{' › '.join(sec.heading_path)}: verbatim text, English title and summary.",
            mime_type="application/json", fn=lambda sec=sec: sec.model_dump_json()))
    srv.add_resource(FunctionResource(
        uri="article://coverage", name="coverage", title="What the article does and does not cover",
        description="Every dimension, aspect, decision and use case, with the sections that speak to it.",
        mime_type="application/json", fn=lambda: advisor.coverage().model_dump_json()))
    for filename, make in SCHEMAS.items():
        srv.add_resource(FunctionResource(
            uri=f"advisor://schemas/{filename}", name=filename, title=f"JSON Schema {filename}",
            description="Published JSON Schema (the same file as schemas/ in the repository).",
            mime_type="application/schema+json", fn=lambda make=make: json.dumps(make(), ensure_ascii=False, indent=2)))


def serve(settings, *, http: bool = False, host: str = "127.0.0.1", port: int = 8000,
          engine: Optional[str] = None) -> None:
    """Run the server: stdio by default, streamable HTTP at http://HOST:PORT/mcp with `http`."""
    advisor = Advisor(settings, engine=engine)
    advisor.search("warm up", 1)  # load (or build) the index now, not inside the first request
    srv = build_server(advisor, load_key(settings.home))
    if http:
        # stdout stays clean in both modes; one line on stderr says where to connect.
        print(f"advisor mcp: streamable HTTP at http://{host}:{port}/mcp (Ctrl-C to stop)", file=sys.stderr, flush=True)
        srv.run("streamable-http", host=host, port=port)
    else:
        if sys.stdin.isatty():  # someone ran it by hand: say what it is waiting for
            print("advisor mcp: speaking MCP on stdin/stdout; add it to an MCP host (see README) or use --http",
                  file=sys.stderr, flush=True)
        srv.run("stdio")
