//go:build race

package mediasync

// memoryTestKeys is smaller under the race detector, which slows the
// listing tenfold; the bound on the heap is the same.
const memoryTestKeys = 20_000
