"""Disclosure of a reporter's identity or an evidence original under dual
control: ``domain`` (aggregates), ``application`` (use cases), ``rpc`` (nameko
provider and RPC handlers)."""
