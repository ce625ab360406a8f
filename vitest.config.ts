import { defineConfig } from 'vitest/config'

// chDB binds one data folder per process, and the threads pool crashed when
// test files opened chDB in different folders, so every file runs in its own
// forked process.
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
