// hw_client.go: the Go client of the cross-language lab. It calls the Python server
// (../server/hw_server.py) through Go stubs (./pb) generated from the same assistant.proto
// as the server's Python stubs: one contract, two languages, one wire format.
//
// Start the server first (in the cross_language folder: python server/hw_server.py),
// then, in another terminal: cd client && go run hw_client.go
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "cross_language/client/pb"
)

// Exit codes, the same as the Python client's.
const (
	exitOK       = 0
	exitFailed   = 1 // a call failed: the server answered with an error status
	exitNoServer = 2 // nobody answered at -addr
)

const defaultAddr = "localhost:8082"

var (
	addr        = flag.String("addr", defaultAddr, "the server's address, HOST:PORT")
	name        = flag.String("name", "Peter", "the user_name to greet")
	institution = flag.String("institution", "SUSTech", "the user's institution")
	x           = flag.Float64("x", 3.5, "the first factor to multiply")
	y           = flag.Float64("y", 5, "the second factor to multiply")
	timeout     = flag.Float64("timeout", 5, "seconds to wait for the server, and for each reply")
)

func init() {
	// -target: the name every client of the kit gives its server's address.
	flag.StringVar(addr, "target", defaultAddr, "same as -addr")
}

// formatNumber writes a double as prototext (the protobuf text format) does: the
// shortest text that reads back as the same number, so 5 is "5" and 17.5 is "17.5".
func formatNumber(v float64) string {
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// The replies are printed in the protobuf text format's shape, field by field. We do not
// print them with prototext (or fmt's %v of the message): its output is deliberately
// unstable, it may put two spaces between fields in one run and one in the next, so
// that nobody parses it. Our own lines are always the same, and match the slides.

func greetText(reply *pb.GreetResponse) string {
	return fmt.Sprintf("message:%q", reply.GetMessage())
}

func multText(reply *pb.MultResponse) string {
	return fmt.Sprintf("xin:%s yin:%s result:%s", formatNumber(reply.GetXin()),
		formatNumber(reply.GetYin()), formatNumber(reply.GetResult()))
}

// greet asks the server for a greeting with -name and -institution and prints it.
func greet(ctx context.Context, client pb.AssistantServiceClient) error {
	fmt.Println("> Greet: Hello Assistant?")
	// BEGIN SOLUTION Call GreetWithInfo with -name and -institution; print the reply.
	request := &pb.GreetRequest{UserName: *name, Institution: *institution}
	reply, err := client.GreetWithInfo(ctx, request)
	if err != nil {
		return err
	}
	fmt.Println("Client received:")
	fmt.Println(greetText(reply))
	// END SOLUTION
	return nil
}

// multiply asks the server for the product of -x and -y and prints its reply.
func multiply(ctx context.Context, client pb.AssistantServiceClient) error {
	fmt.Println("> Mult: Requesting a multiplication task")
	// BEGIN SOLUTION Call Multiply with -x and -y; print the reply.
	request := &pb.MultRequest{Xin: *x, Yin: *y}
	reply, err := client.Multiply(ctx, request)
	if err != nil {
		return err
	}
	fmt.Println("> Client received:")
	fmt.Println(multText(reply))
	// END SOLUTION
	return nil
}

// waitForServer connects and waits until the connection is ready, or ctx is done.
// grpc.NewClient only connects at the first call; waiting here first tells "there is
// no server" apart from "the server answered with an error".
func waitForServer(ctx context.Context, conn *grpc.ClientConn) bool {
	conn.Connect()
	for {
		state := conn.GetState()
		if state == connectivity.Ready {
			return true
		}
		if !conn.WaitForStateChange(ctx, state) {
			return false // ctx is done: the deadline passed, or Ctrl+C
		}
	}
}

// withDeadline runs one call with its own deadline of -timeout seconds: a call never
// waits forever for a server that hangs.
func withDeadline(ctx context.Context, wait time.Duration,
	call func(context.Context, pb.AssistantServiceClient) error,
	client pb.AssistantServiceClient) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	return call(ctx, client)
}

func run() int {
	flag.Parse()
	if *timeout <= 0 {
		fmt.Fprintln(os.Stderr, "-timeout must be a number of seconds above 0")
		return exitNoServer
	}
	wait := time.Duration(*timeout * float64(time.Second))

	// Ctrl+C cancels ctx, and with it the call in flight.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	// No TLS: these labs run on your machine or your classroom network. No proxy either:
	// a proxy set in the environment (https_proxy, ...) would only get in the way.
	conn, err := grpc.NewClient(*addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithNoProxy())
	if err != nil {
		fmt.Fprintf(os.Stderr, "Bad server address %q: %v\n", *addr, err)
		return exitNoServer
	}
	defer conn.Close()

	waitCtx, cancel := context.WithTimeout(ctx, wait)
	ready := waitForServer(waitCtx, conn)
	cancel()
	if ctx.Err() != nil {
		log.Print("Cancelled by user (Ctrl+C).")
		return exitOK
	}
	if !ready {
		fmt.Fprintf(os.Stderr, "Cannot reach the server at %s (waited %g s). Start it first, "+
			"in the cross_language folder: python server/hw_server.py\n", *addr, *timeout)
		return exitNoServer
	}

	client := pb.NewAssistantServiceClient(conn)
	if err := withDeadline(ctx, wait, greet, client); err != nil {
		return report(ctx, "GreetWithInfo", err)
	}
	if err := withDeadline(ctx, wait, multiply, client); err != nil {
		return report(ctx, "Multiply", err)
	}
	return exitOK
}

// report prints one line about a failed call and returns the exit code.
func report(ctx context.Context, method string, err error) int {
	if errors.Is(ctx.Err(), context.Canceled) {
		log.Print("Cancelled by user (Ctrl+C).")
		return exitOK
	}
	// status.Convert gives the gRPC status behind any error a call returns.
	st := status.Convert(err)
	fmt.Fprintf(os.Stderr, "%s failed: %s: %s\n", method, st.Code(), st.Message())
	return exitFailed
}

func main() {
	os.Exit(run())
}
