"""Cold-start baseline for the MCP Lambda: a bare MCPServer (one tool) mounted in FastAPI behind Mangum.

The MCP SDK's import is heavy; the MCP handler is held to 1.15x of this, not of plain FastAPI (issue 6).
"""

from fastapi import FastAPI
from mangum import Mangum
from mcp.server.mcpserver import MCPServer

server = MCPServer("bare")


@server.tool()
def hello(name: str) -> str:
    return f"hello {name}"


app = FastAPI()
app.mount("/mcp", server.streamable_http_app(stateless_http=True, json_response=True))
handler = Mangum(app, lifespan="off")
