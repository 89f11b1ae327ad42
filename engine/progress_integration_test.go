package engine

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logrouter/logrouter/internal/testaws"
)

func TestDynamoDBProgress(t *testing.T) {
	ctx := testaws.Context(t, time.Minute)
	client := dynamodb.NewFromConfig(testaws.Config(t))
	table := testaws.Name("progress")
	require.NoError(t, CreateProgressTable(ctx, client, table))
	s := NewDynamoDBProgress(client, table, time.Hour)
	p, err := s.Get(ctx, "x")
	require.NoError(t, err)
	assert.Equal(t, Progress{}, p, "nothing recorded")
	steps := []struct {
		put, want Progress
	}{
		{Progress{Acked: 10}, Progress{Acked: 10}},
		{Progress{Acked: 25}, Progress{Acked: 25}},
		{Progress{Acked: 20}, Progress{Acked: 25}}, // a stale checkpoint never moves backwards
		{Progress{Done: true, Acked: 40}, Progress{Done: true, Acked: 40}},
		{Progress{Acked: 50}, Progress{Done: true, Acked: 40}}, // nor reopens a finished delivery
	}
	for _, st := range steps {
		require.NoError(t, s.Put(ctx, "x", st.put))
		got, err := s.Get(ctx, "x")
		require.NoError(t, err)
		assert.Equal(t, st.want, got, "after Put(%+v)", st.put)
	}
}
