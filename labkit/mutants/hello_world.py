"""Mistakes students make in hello_world (see labkit/mutants/__init__.py)."""

from labkit.mutants import Mutant

MUTANTS = [
    Mutant("greets-everyone-as-world", "server.py",
           'response.message = f"Hello, {request.name}!"',
           'response.message = "Hello, World!"',
           "the servicer ignores request.name", central=True),
    Mutant("greeting-without-punctuation", "server.py",
           'response.message = f"Hello, {request.name}!"',
           'response.message = f"Hello {request.name}"',
           "the greeting is not the slides' 'Hello, <name>!'", central=True),
    Mutant("client-prints-without-calling", "client.py",
           "    response: HelloReply = stub.SayHello(request, timeout=timeout)\n"
           "    return response.message",
           '    return f"Hello, {name}!"',
           "the client prints the expected greeting without calling the server",
           central=True),
    Mutant("client-without-deadline", "client.py",
           "stub.SayHello(request, timeout=timeout)",
           "stub.SayHello(request)",
           "the call has no deadline: a silent server hangs the client forever"),
    Mutant("client-sends-a-fixed-name", "client.py",
           "request = HelloRequest(name=name)",
           'request = HelloRequest(name="World")',
           "the client ignores --name"),
]
