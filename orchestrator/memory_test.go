package orchestrator_test

import (
	"testing"

	"github.com/portico-dev/portico/orchestrator"
	"github.com/portico-dev/portico/orchestrator/orchestratortest"
)

func TestMemoryStore(t *testing.T) {
	orchestratortest.RunStore(t, func(*testing.T) orchestrator.Store { return orchestrator.NewMemoryStore() })
}
