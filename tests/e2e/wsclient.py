"""A Streamlit session driven over its own websocket protocol, with no browser.

It speaks what the browser speaks on /_stcore/stream: binary `BackMsg` protobufs up
(`rerun_script` with the page and the widget states), `ForwardMsg` protobufs down (the
page's elements as deltas, then `script_finished`). The load test uses it so that ten
users cost the server what ten users cost it, and not ten Chromium renderers on a 2-core
machine. The browser e2e test still checks what a person sees.
"""

from __future__ import annotations

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg


class Session:
    """One app session: `open(page)`, then `set_number(label, value)` reruns it."""

    def __init__(self, ws, page: str):
        self.ws, self.page = ws, page
        self.widget_ids: dict[str, str] = {}  # label -> widget id, from the deltas
        self.states: dict[str, int] = {}  # widget id -> value sent with every rerun
        self.exceptions: list[str] = []  # exception elements the app rendered
        self.metrics: dict[str, str] = {}  # st.metric label -> value shown, latest run

    @classmethod
    async def connect(cls, url: str, page: str) -> Session:
        import websockets

        ws_url = url.replace("http://", "ws://") + "/_stcore/stream"
        ws = await websockets.connect(
            ws_url, subprotocols=["streamlit"], max_size=2**26, open_timeout=60
        )
        session = cls(ws, page)
        await session.rerun()
        return session

    async def rerun(self) -> None:
        """Send the page and the widget states; read until the script has finished."""
        msg = BackMsg()
        state = msg.rerun_script
        state.page_name = self.page
        for wid, value in self.states.items():
            w = state.widget_states.widgets.add()
            w.id = wid
            if isinstance(value, str):  # a text box (the app's number fields are text)
                w.string_value = value
            else:
                w.int_value = value
        await self.ws.send(msg.SerializeToString())
        while True:
            fwd = ForwardMsg()
            fwd.ParseFromString(await self.ws.recv())
            kind = fwd.WhichOneof("type")
            if kind == "delta":
                self._read_element(fwd.delta)
            elif kind == "script_finished":
                if fwd.script_finished != ForwardMsg.FINISHED_SUCCESSFULLY:
                    self.exceptions.append(f"script finished with status {fwd.script_finished}")
                break

    def _read_element(self, delta) -> None:
        if delta.WhichOneof("type") != "new_element":
            return
        el = delta.new_element
        kind = el.WhichOneof("type")
        if kind == "exception":
            self.exceptions.append(f"{el.exception.type}: {el.exception.message}")
        elif kind == "metric":
            self.metrics[el.metric.label] = el.metric.body
        elif kind == "number_input":
            self.widget_ids[el.number_input.label] = el.number_input.id
        elif kind == "text_input":
            self.widget_ids[el.text_input.label] = el.text_input.id

    async def set_number(self, label: str, value: int) -> None:
        """Type a number into the field labelled `label`, as a person types it."""
        if label not in self.widget_ids:
            raise KeyError(f"no number field labelled {label!r} on {self.page}")
        self.states[self.widget_ids[label]] = f"{value:,}"
        await self.rerun()

    async def close(self) -> None:
        await self.ws.close()
