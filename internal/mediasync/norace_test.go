//go:build !race

package mediasync

// memoryTestKeys is the size of the listing TestMemoryStaysFlat plans.
const memoryTestKeys = 100_000
