"""Mistakes students make in cross_language (see labkit/mutants/__init__.py).

The lesson is the Go client: both RPCs, each under the deadline of the ctx it is given.
Go makes it easy to reach for context.Background() (no deadline, deaf to Ctrl+C), to
print what the server "would" say, or to drop an error; the Python parts get the slides'
greeting or the product slightly wrong.
"""

from labkit.mutants import Mutant

GO_GREET_CALL = """\
	request := &pb.GreetRequest{UserName: *name, Institution: *institution}
	reply, err := client.GreetWithInfo(ctx, request)
	if err != nil {
		return err
	}
"""
GO_MULT_CALL = """\
	request := &pb.MultRequest{Xin: *x, Yin: *y}
	reply, err := client.Multiply(ctx, request)
	if err != nil {
		return err
	}
"""

MUTANTS = [
    # The Go client (the central lesson)
    Mutant("go-greet-without-deadline", "client/hw_client.go",
           "client.GreetWithInfo(ctx, request)",
           "client.GreetWithInfo(context.Background(), request)",
           "GreetWithInfo is called with context.Background(): no deadline, and Ctrl+C "
           "cannot cancel it", central=True),
    Mutant("go-multiply-without-deadline", "client/hw_client.go",
           "client.Multiply(ctx, request)",
           "client.Multiply(context.Background(), request)",
           "Multiply is called with context.Background(): a silent server hangs the client",
           central=True),
    Mutant("go-greets-without-calling", "client/hw_client.go",
           GO_GREET_CALL,
           '\treply := &pb.GreetResponse{Message: "Hello " + *name + " from " + *institution'
           ' + "!"}\n',
           "the Go client prints the greeting it expects instead of calling GreetWithInfo",
           central=True),
    Mutant("go-multiplies-locally", "client/hw_client.go",
           GO_MULT_CALL,
           "\treply := &pb.MultResponse{Xin: *x, Yin: *y, Result: *x * *y}\n",
           "the Go client computes the product itself instead of calling Multiply",
           central=True),
    Mutant("go-ignores-the-error", "client/hw_client.go",
           GO_GREET_CALL,
           "\trequest := &pb.GreetRequest{UserName: *name, Institution: *institution}\n"
           "\treply, _ := client.GreetWithInfo(ctx, request)\n",
           "the error of GreetWithInfo is dropped: a failed call prints an empty greeting "
           "and the client goes on"),
    Mutant("go-sends-x-twice", "client/hw_client.go",
           "&pb.MultRequest{Xin: *x, Yin: *y}",
           "&pb.MultRequest{Xin: *x, Yin: *x}",
           "the Go client sends -x as both factors"),
    # The Python client
    Mutant("python-without-deadline", "client/hw_client.py",
           "stub.GreetWithInfo(request, timeout=timeout)",
           "stub.GreetWithInfo(request)",
           "the Python client's GreetWithInfo has no deadline"),
    Mutant("python-multiplies-locally", "client/hw_client.py",
           "    request = MultRequest(xin=x, yin=y)\n"
           "    reply: MultResponse = stub.Multiply(request, timeout=timeout)\n",
           "    reply = MultResponse(xin=x, yin=y, result=x * y)\n",
           "the Python client computes the product itself instead of calling Multiply"),
    # The Python server
    Mutant("server-greets-without-institution", "server/hw_server.py",
           'message = f"Hello {request.user_name} from {request.institution}!"',
           'message = f"Hello {request.user_name}!"',
           "the greeting leaves out the institution"),
    Mutant("server-greets-as-hello-world", "server/hw_server.py",
           'message = f"Hello {request.user_name} from {request.institution}!"',
           'message = f"Hello, {request.user_name} from {request.institution}!"',
           "the greeting is not the slides' 'Hello <user_name> from <institution>!'"),
    Mutant("server-sends-only-the-product", "server/hw_server.py",
           "return MultResponse(xin=request.xin, yin=request.yin, result=product)",
           "return MultResponse(result=product)",
           "Multiply sends back the product without the two factors"),
    Mutant("server-adds", "server/hw_server.py",
           "product = request.xin * request.yin",
           "product = request.xin + request.yin",
           "Multiply adds the factors"),
]
