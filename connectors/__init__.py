"""The launcher's connectors, one vertical slice per national service."""
