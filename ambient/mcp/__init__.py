"""MCP servers' tools for the agent, every write through the approvals queue.

- :mod:`~ambient.mcp.servers` — each ``[[mcp]]`` server as Pydantic AI's ``MCPToolset``, its
  stderr and its health (down, retried with backoff; never an item's failure)
- :mod:`~ambient.mcp.catalog` — the tools each server listed, on disk, for the policy gate

The settings are :mod:`ambient.core.mcp_settings`; the agent's view of the tools (read-only
results framed as untrusted data, other calls deferred as drafts) is :mod:`ambient.agent.mcp`;
the ``mcp_call`` kind and its executor are in :mod:`ambient.approvals`. Importing this package
imports neither Pydantic AI's MCP client nor FastMCP: :mod:`~ambient.mcp.servers` does.
"""
