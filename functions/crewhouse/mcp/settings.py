from __future__ import annotations

from crewhouse.tasks.settings import TasksSettings


class McpSettings(TasksSettings):
    # Host headers the MCP transport accepts (DNS-rebinding protection): the API's own domain(s).
    mcp_allowed_hosts: str = ""
    user_pool_id: str = ""
    crewhouse_local: bool = False

    @property
    def allowed_hosts(self) -> list[str]:
        hosts = [h.strip() for h in self.mcp_allowed_hosts.split(",") if h.strip()]
        if self.crewhouse_local:
            hosts += ["127.0.0.1:*", "localhost:*"]
        return hosts

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.aws_region}.amazonaws.com/{self.user_pool_id}"
