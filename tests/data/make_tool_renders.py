#!/usr/bin/env python3
"""Writes tests/data/chat_tool_renders.json: llama.cpp's own renders (llama-server --jinja,
POST /apply-template) of conversations with tools, tool calls and tool results, through every
template of ../shared/golden/chat_templates.json. llama.cpp is the reference build of
../shared/bench/build_llamacpp.sh; the model only supplies the special tokens (bos/eos
'<|endoftext|>'). Templates that print today's date print the day this ran ("rendered_on").

    python3 tests/data/make_tool_renders.py [path/to/llama-server]
"""
import datetime
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(os.path.dirname(here))
shared = os.path.join(os.path.dirname(repo), "shared")
golden = json.load(open(os.path.join(shared, "golden", "chat_templates.json")))
model = os.path.join(shared, "models", golden["model_for_special_tokens"])

if len(sys.argv) > 1:
    server_bin = sys.argv[1]
else:
    out = subprocess.run([os.path.join(shared, "bench", "build_llamacpp.sh")], capture_output=True, text=True, check=True)
    server_bin = os.path.join(out.stdout.strip().splitlines()[-1], "llama-server")

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a city",
    "parameters": {"type": "object", "properties": {
        "location": {"type": "string", "description": "City and country, e.g. Paris, France"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["location"]}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "description": "Current local time of a time zone",
    "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]}}}
CALL = {"id": "call_0001", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"location\": \"Paris, France\", \"unit\": \"celsius\"}"}}
CALL2 = {"id": "call_0002", "type": "function",
         "function": {"name": "get_time", "arguments": "{\"timezone\": \"Europe/Paris\"}"}}

conversations = [
    {"tools": [WEATHER, TIME], "add_generation_prompt": True,
     "messages": [{"role": "user", "content": "What is the weather in Paris?"}]},
    {"tools": [WEATHER], "add_generation_prompt": True,
     "messages": [{"role": "system", "content": "You are a weather bot."},
                  {"role": "user", "content": "Weather in Paris, please."},
                  {"role": "assistant", "content": "", "tool_calls": [CALL]},
                  {"role": "tool", "tool_call_id": "call_0001", "content": "{\"temperature\": 18, \"sky\": \"clear\"}"}]},
    {"tools": [WEATHER, TIME], "add_generation_prompt": True,
     "messages": [{"role": "user", "content": "Weather and time in Paris?"},
                  {"role": "assistant", "content": None, "tool_calls": [CALL, CALL2]},
                  {"role": "tool", "tool_call_id": "call_0001", "content": "18 C, clear"},
                  {"role": "tool", "tool_call_id": "call_0002", "content": "14:05"},
                  {"role": "assistant", "content": "It is 18 C and clear; the time is 14:05."},
                  {"role": "user", "content": "Thanks!"}]},
]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def post(port, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def render_all(source):
    with tempfile.NamedTemporaryFile("w", suffix=".jinja", delete=False) as f:
        f.write(source)
        path = f.name
    port = free_port()
    proc = subprocess.Popen([server_bin, "-m", model, "--jinja", "--chat-template-file", path, "--port", str(port),
                             "-c", "512", "-t", "1", "--no-warmup"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except Exception:
                pass
            if proc.poll() is not None:
                return [{"error": "llama-server exited: " + proc.stderr.read().decode()[-300:]}] * len(conversations)
            time.sleep(0.2)
        renders = []
        for conv in conversations:
            status, body = post(port, "/apply-template", conv)
            renders.append({"prompt": body["prompt"]} if status == 200 else {"error": body.get("error", {}).get("message", str(status))})
        return renders
    finally:
        proc.terminate()
        proc.wait()
        os.unlink(path)


out = {
    "note": "Rendered by llama.cpp's llama-server (--jinja, POST /apply-template) through each template of "
            "../shared/golden/chat_templates.json by tests/data/make_tool_renders.py; bos_token and eos_token "
            "are '<|endoftext|>' (" + golden["model_for_special_tokens"] + "). An 'error' is a conversation "
            "llama.cpp refused.",
    "rendered_on": datetime.date.today().isoformat(),
    "conversations": conversations,
    "templates": [],
}
for t in golden["templates"]:
    print(t["template"], file=sys.stderr)
    out["templates"].append({"template": t["template"], "renders": render_all(t["source"])})
with open(os.path.join(here, "chat_tool_renders.json"), "w") as f:
    json.dump(out, f, indent=1, ensure_ascii=False)
    f.write("\n")
