package main

import (
	"context"
	"encoding/json"

	"github.com/logrouter/logrouter/api"
	"github.com/logrouter/logrouter/tenant"
)

func init() {
	registerConfigsVerb(&configsVerb{
		verb: verb{Name: "history", Args: "TENANT_ID TYPE", Summary: "the configuration's recorded changes, newest first (every page)", MinArgs: 2, MaxArgs: 2},
		Run: func(ctx context.Context, call *configsCall) ([]byte, error) {
			if call.pageSize < 1 || call.pageSize > 1000 {
				return nil, usagef("--page-size (LOGROUTER_API_PAGE_SIZE) must be between 1 and 1000, got %d", call.pageSize)
			}
			all := api.HistoryList{Items: []tenant.HistoryEntry{}}
			next := ""
			for {
				page, err := call.client.History(ctx, call.args[0], call.args[1], call.pageSize, next)
				if err != nil {
					return nil, err
				}
				all.Items = append(all.Items, page.Items...)
				if page.Next == "" {
					return json.Marshal(all)
				}
				next = page.Next
			}
		},
	})
}
