package fakeargocd

import (
	"net/http"
	"strconv"
)

// SetGetFault makes every GET /api/v1/applications/{name} fail as f says (until
// ClearGetFault), independently of the list's fault: FaultStatus answers its status
// and error body, FaultTruncated cuts the Application's JSON in the middle, FaultHeld
// holds the answer until the fault changes; other kinds answer normally. envtrack reads
// status.history there, and confirms a deadline with it, so a test can make that read
// fail while the list succeeds.
func (s *Server) SetGetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.getFreed) // ends the holds of the get's FaultHeld
	s.getFreed = make(chan struct{})
	s.getFault = f
}

// ClearGetFault makes GET /api/v1/applications/{name} answer normally again.
func (s *Server) ClearGetFault() { s.SetGetFault(Fault{}) }

// GetRequests returns how many GET /api/v1/applications/{name} requests arrived
// (answered or faulted): what reading histories and confirming deadlines cost.
func (s *Server) GetRequests() int64 { return s.gets.Load() }

// failGet answers a faulted get and reports whether it did (a held get that its client
// gave up is answered: with nothing).
func (s *Server) failGet(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	f := s.getFault
	f.release = s.getFreed
	s.mu.Unlock()
	switch f.Kind {
	case FaultHeld:
		return !s.hold(r, f)
	case FaultStatus:
		writeFault(w, f)
		return true
	case FaultTruncated:
		body := []byte(`{"metadata":{"name":"cut"},"status":{"history":[{"revision":"1a2b3c4d","deployedAt":"2025-01-07T10:0`)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(2*len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		panic(http.ErrAbortHandler) // drop the connection mid-body, as the list's FaultTruncated
	}
	return false
}
