// The grpc-go peer of the benchmarks: grpc-go's helloworld greeter server (SayHello answers
// "Hello, NAME!"), compiled from the greeter example's exported .proto by scripts/go-greeter
// against Debian's grpc-go. `greeter-server ADDR` prints "listening on ADDR" once it listens.
package main

import (
	"context"
	"fmt"
	"net"
	"os"

	"google.golang.org/grpc"
	pb "protoless/helloworld"
)

type server struct {
	pb.UnimplementedGreeterServer
}

func (server) SayHello(_ context.Context, in *pb.HelloRequest) (*pb.HelloReply, error) {
	return &pb.HelloReply{Message: "Hello, " + in.GetName() + "!"}, nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: greeter-server ADDR")
		os.Exit(2)
	}
	listener, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s := grpc.NewServer()
	pb.RegisterGreeterServer(s, server{})
	fmt.Printf("listening on %s\n", listener.Addr())
	if err := s.Serve(listener); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
