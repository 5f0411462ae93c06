from eco_shared.sse import ServerSentEvent, aiter_sse, parse_sse


def test_fields_comments_multiline_data_and_defaults() -> None:
    body = (
        ": keep-alive\n"
        'id: 1-0\nevent: node.started\ndata: {"node": "understand"}\n\n'
        "data: first line\ndata:second line\n\n"
        "id: 3\n\n"  # no data: not an event
        "event: tail\ndata: unterminated"
    )
    assert parse_sse(body) == [
        ServerSentEvent("1-0", "node.started", '{"node": "understand"}'),
        ServerSentEvent("", "message", "first line\nsecond line"),
        ServerSentEvent("", "tail", "unterminated"),
    ]
    assert parse_sse(body)[0].json() == {"node": "understand"}


async def test_async_lines_yield_events_as_they_complete() -> None:
    async def lines():  # type: ignore[no-untyped-def]
        for line in ["event: a", "data: 1", "", "data: 2", ""]:
            yield line

    assert [(e.event, e.data) async for e in aiter_sse(lines())] == [("a", "1"), ("message", "2")]
