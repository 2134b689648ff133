// SPDX-License-Identifier: Apache-2.0

package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"

	"github.com/hooksupd/hooksupd/service"
)

// A host application fires through a running service. (Compiled, not
// run: it needs a service listening on the socket. README.md shows this
// code.)
func ExampleClient() {
	ctx := context.Background()
	payload := json.RawMessage(`{"content":"hello"}`)

	c, err := service.Dial("") // service.DefaultSocket
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	rep, err := c.Fire(ctx, service.FireRequest{Event: "pre_store", Namespaces: []string{"team/a"}, Payload: payload})
	var se *service.Error
	switch {
	case errors.As(err, &se) && se.Code == service.CodeOverloaded:
		log.Print("busy; retry later") // error replies are *service.Error
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println(rep.Decision, rep.Reason)
	}
	st, err := c.Status(ctx) // root or the service user only
	if err != nil {
		log.Fatal(err)
	}

	fmt.Println(len(st.Hooks), "hooks")
}
