// The vscode module for unit tests: jest-mock-vscode's implementation of
// the API (Uri, EventEmitter, TreeItem, ThemeIcon, ...) on vitest's mocks.
import { createVSCodeMock } from 'jest-mock-vscode';
import { vi } from 'vitest';

module.exports = createVSCodeMock(vi);
