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
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
	exitBadFlag  = 2 // a flag that makes no sense (the flag package's own exit code)
)

const (
	defaultAddr = "localhost:8082"
	startServer = "python server/hw_server.py (in the cross_language folder)"
	// -timeout: less cannot reach even a server on this machine; more is surely a typo.
	minTimeout = 0.1
	maxTimeout = 24 * 60 * 60
)

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

// parseFlags reads the command line and checks each value; false (after one line on
// stderr naming the flag) if one makes no sense.
func parseFlags() bool {
	flags := flag.CommandLine
	flags.Init(os.Args[0], flag.ContinueOnError)
	// A mistake gets the flag package's one line, not the whole list of flags after it;
	// -h still lists them.
	flags.Usage = func() {}
	if err := flags.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) { // -h: the list of flags, exit 0
			flags.PrintDefaults()
			os.Exit(exitOK)
		}
		return false
	}
	// Go's strings may hold any bytes; protobuf's must be UTF-8 (else the call fails).
	for name, value := range map[string]string{"-addr": *addr, "-name": *name,
		"-institution": *institution} {
		if !utf8.ValidString(value) {
			fmt.Fprintf(os.Stderr, "%s must be UTF-8 text, got the bytes %q\n", name, value)
			return false
		}
	}
	// (NaN is never in range; -x and -y may be anything: the server checks them.)
	if !(*timeout >= minTimeout && *timeout <= maxTimeout) {
		fmt.Fprintf(os.Stderr, "-timeout must be a number of seconds from %g to %g, got %g\n",
			minTimeout, float64(maxTimeout), *timeout)
		return false
	}
	return true
}

// say prints a line of the client's output. A line that cannot be written (a full disk)
// ends the client: one line on stderr, exit code 1.
func say(line string) {
	if _, err := fmt.Println(line); err != nil {
		fmt.Fprintf(os.Stderr, "Cannot write the output: %v\n", unwrapPath(err))
		os.Exit(exitFailed)
	}
}

// unwrapPath turns "write /dev/stdout: no space left on device" into its reason.
func unwrapPath(err error) error {
	var pathErr *os.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Err
	}
	return err
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
	say("> Greet: Hello Assistant?")
	// BEGIN SOLUTION Call GreetWithInfo(ctx, ...); return its error, or print "Client received:", greetText(reply)
	request := &pb.GreetRequest{UserName: *name, Institution: *institution}
	reply, err := client.GreetWithInfo(ctx, request)
	if err != nil {
		return err
	}
	say("Client received:")
	say(greetText(reply))
	// END SOLUTION
	return nil
}

// multiply asks the server for the product of -x and -y and prints its reply.
func multiply(ctx context.Context, client pb.AssistantServiceClient) error {
	say("> Mult: Requesting a multiplication task")
	// BEGIN SOLUTION Call Multiply(ctx, ...); return its error, or print "> Client received:", multText(reply)
	request := &pb.MultRequest{Xin: *x, Yin: *y}
	reply, err := client.Multiply(ctx, request)
	if err != nil {
		return err
	}
	say("> Client received:")
	say(multText(reply))
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
	// Ctrl+C cancels ctx, and with it the call in flight: the client then exits 0. From
	// the first line on, and until the end: Go's default for Ctrl+C is "killed by the
	// signal", whatever the program was doing.
	ctx, userCancelled := context.WithCancel(context.Background())
	defer userCancelled()
	interrupts := make(chan os.Signal, 1)
	signal.Notify(interrupts, os.Interrupt)
	go func() {
		<-interrupts
		userCancelled() // a second Ctrl+C finds the channel full: it changes nothing
	}()

	if !parseFlags() {
		return exitBadFlag
	}
	wait := time.Duration(*timeout * float64(time.Second))

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
		fmt.Fprintf(os.Stderr, "Cannot reach the server at %s (waited %g s). Start it first: %s\n",
			*addr, *timeout, startServer)
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

// todoLine is the one line that a TODO of the starter copy, panic("TODO: ..."), prints
// instead of a panic's trace: what to write, and where. "" for any other panic.
func todoLine(recovered any) string {
	todo, ok := recovered.(string)
	if !ok || !strings.HasPrefix(todo, "TODO") {
		return ""
	}
	// Called while panicking: the frame below runtime.gopanic is the one that panicked.
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(0, pcs)])
	for frame, more := frames.Next(); more; frame, more = frames.Next() {
		if frame.Function == "runtime.gopanic" {
			at, _ := frames.Next()
			name := at.Function[strings.LastIndex(at.Function, ".")+1:]
			return fmt.Sprintf("%s (%s, line %d, in %s)", todo, filepath.Base(at.File), at.Line, name)
		}
	}
	return todo
}

func main() {
	defer func() {
		if recovered := recover(); recovered != nil {
			line := todoLine(recovered)
			if line == "" {
				panic(recovered) // a bug: its trace shows where
			}
			fmt.Fprintln(os.Stderr, line)
			os.Exit(exitFailed)
		}
	}()
	os.Exit(run())
}
