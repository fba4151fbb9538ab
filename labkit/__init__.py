"""labkit: tooling for instructors around the gRPC Lab Kit's labs.

Labs never import labkit; labkit runs labs as processes and talks gRPC to them.
"""
