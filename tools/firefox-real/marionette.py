"""A small Marionette client: the protocol Firefox speaks on -marionette.

Messages are `<decimal length>:<JSON>`; the server greets first, then every
command is `[0, id, name, params]` and every reply `[1, id, error, result]`
(remote/marionette/server.sys.mjs and message.sys.mjs in Firefox's tree).
"""

from __future__ import annotations

import json
import socket
import time


class MarionetteError(Exception):
    pass


class Marionette:
    def __init__(self, host: str, port: int, connect_timeout: float = 60.0, command_timeout: float = 60.0):
        self.command_timeout = command_timeout
        deadline = time.monotonic() + connect_timeout
        last_error: Exception | None = None
        while True:
            try:
                self.sock = socket.create_connection((host, port), timeout=5)
                break
            except OSError as error:  # Firefox is still starting
                last_error = error
                if time.monotonic() > deadline:
                    raise MarionetteError(f"no Marionette on {host}:{port}: {last_error}") from error
                time.sleep(0.5)
        self.sock.settimeout(command_timeout)
        self._buffer = b""
        self.greeting = self._receive()
        self._next_id = 1

    def _receive(self):
        while b":" not in self._buffer:
            self._read_more()
        length_text, rest = self._buffer.split(b":", 1)
        length = int(length_text)
        self._buffer = rest
        while len(self._buffer) < length:
            self._read_more()
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return json.loads(body)

    def _read_more(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise MarionetteError("Marionette closed the connection")
        self._buffer += chunk

    def command(self, name: str, params: dict | None = None, timeout: float | None = None):
        message_id = self._next_id
        self._next_id += 1
        body = json.dumps([0, message_id, name, params or {}]).encode()
        self.sock.settimeout(timeout or self.command_timeout)
        self.sock.sendall(str(len(body)).encode() + b":" + body)
        while True:
            reply = self._receive()
            if isinstance(reply, list) and len(reply) == 4 and reply[0] == 1 and reply[1] == message_id:
                break
        _, _, error, result = reply
        if error:
            raise MarionetteError(f"{name}: {error.get('error')}: {error.get('message')}")
        return result

    # The few commands the tier uses.
    def new_session(self):
        return self.command("WebDriver:NewSession", {"capabilities": {"alwaysMatch": {"acceptInsecureCerts": True}}})

    def navigate(self, url: str):
        return self.command("WebDriver:Navigate", {"url": url}, timeout=120)

    def set_context(self, context: str):
        return self.command("Marionette:SetContext", {"value": context})

    def execute(self, script: str, args: list | None = None, timeout: float | None = None):
        result = self.command("WebDriver:ExecuteScript", {"script": script, "args": args or []}, timeout=timeout)
        return result.get("value") if isinstance(result, dict) else result

    def execute_async(self, script: str, args: list | None = None, timeout: float | None = None):
        result = self.command("WebDriver:ExecuteAsyncScript", {"script": script, "args": args or []},
                              timeout=timeout)
        return result.get("value") if isinstance(result, dict) else result

    def new_tab(self):
        return self.command("WebDriver:NewWindow", {"type": "tab"})["handle"]

    def switch_to(self, handle: str):
        return self.command("WebDriver:SwitchToWindow", {"handle": handle})

    def window_handle(self):
        result = self.command("WebDriver:GetWindowHandle")
        return result.get("value") if isinstance(result, dict) else result

    def set_window_rect(self, x: int, y: int, width: int, height: int):
        return self.command("WebDriver:SetWindowRect", {"x": x, "y": y, "width": width, "height": height})

    def quit(self):
        try:
            self.command("Marionette:Quit", {"flags": ["eAttemptQuit"]}, timeout=60)
        except (MarionetteError, OSError):
            pass
        finally:
            self.sock.close()
