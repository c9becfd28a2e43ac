// Command descset writes the descriptors of google/api/annotations.proto and its imports as
// a FileDescriptorSet, for protoc's --descriptor_set_in: the protos onestop's REST
// annotations need, taken from the Go module (genproto) rather than a copied file tree.
package main

import (
	"log"
	"os"

	_ "google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: descset OUT.pb")
	}
	set := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var add func(path string)
	add = func(path string) {
		if seen[path] {
			return
		}
		seen[path] = true
		fd, err := protoregistry.GlobalFiles.FindFileByPath(path)
		if err != nil {
			log.Fatal(err)
		}
		imports := fd.Imports()
		for i := range imports.Len() {
			add(imports.Get(i).Path())
		}
		// Dependencies first: protoc reads the set in order.
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	for _, p := range []string{"google/api/annotations.proto", "google/api/http.proto", "google/api/field_behavior.proto"} {
		add(p)
	}
	b, err := proto.Marshal(set)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(os.Args[1], b, 0o644); err != nil {
		log.Fatal(err)
	}
}
