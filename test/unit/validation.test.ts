import { describe, expect, it } from 'vitest';
import { createAgentBody, updateAgentBody } from '#domain/agent.ts';
import { toFieldErrors, validateBody } from '#http/validation.ts';
import { fieldsOf, validationErrors } from '../support/problems.ts';

const valid = { name: 'Support bot', model: 'gpt-4o', system_prompt: 'You are helpful.' };

describe('validateBody with createAgentBody', () => {
  it('accepts a valid body without configuration', () => {
    expect(validateBody(createAgentBody, valid)).toEqual(valid);
  });

  it('accepts a valid body with configuration', () => {
    const body = { ...valid, configuration: { temperature: 0.2, tools: ['search'], nested: { a: null } } };
    expect(validateBody(createAgentBody, body)).toEqual(body);
  });

  it('trims name and model, but not the system prompt', () => {
    const result = validateBody(createAgentBody, {
      name: '  Support bot \n',
      model: ' gpt-4o ',
      system_prompt: '  keep my spaces  ',
    });
    expect(result).toEqual({ name: 'Support bot', model: 'gpt-4o', system_prompt: '  keep my spaces  ' });
  });

  it('reports each unknown field on its own', () => {
    const errors = validationErrors(createAgentBody, { ...valid, tenant_id: 't', id: 'x' });
    expect(errors).toEqual([
      { field: 'tenant_id', detail: 'unknown field' },
      { field: 'id', detail: 'unknown field' },
    ]);
  });

  it('reports every missing required field by name', () => {
    const errors = validationErrors(createAgentBody, {});
    expect(fieldsOf(errors).sort()).toEqual(['model', 'name', 'system_prompt']);
    for (const error of errors) expect(error.detail).toBe('is required');
  });

  it('reports missing and unknown fields together', () => {
    const errors = validationErrors(createAgentBody, { name: 'x', model: 'm', colour: 'red' });
    expect(errors).toContainEqual({ field: 'colour', detail: 'unknown field' });
    expect(fieldsOf(errors)).toContain('system_prompt');
  });

  it('reports wrong types with the expected and received types', () => {
    const errors = validationErrors(createAgentBody, {
      name: 1,
      model: true,
      system_prompt: 'p',
      configuration: 'x',
    });
    expect(errors).toEqual([
      { field: 'name', detail: 'Invalid input: expected string, received number' },
      { field: 'model', detail: 'Invalid input: expected string, received boolean' },
      { field: 'configuration', detail: 'Invalid input: expected record, received string' },
    ]);
  });

  it('reports a wrong type once, without length complaints about the wrong type', () => {
    // An array has a length, but "Too small: expected array to have >=1 items" is noise for a string field.
    const errors = validationErrors(createAgentBody, { name: [], model: 'm', system_prompt: [] });
    expect(errors).toEqual([
      { field: 'name', detail: 'Invalid input: expected string, received array' },
      { field: 'system_prompt', detail: 'Invalid input: expected string, received array' },
    ]);
  });

  it('rejects an empty or blank name', () => {
    for (const name of ['', '   ', '\n\t']) {
      const errors = validationErrors(createAgentBody, { ...valid, name });
      expect(errors).toEqual([
        { field: 'name', detail: 'Too small: expected string to have >=1 characters' },
      ]);
    }
  });

  it('rejects a name over 200 characters', () => {
    const errors = validationErrors(createAgentBody, { ...valid, name: 'n'.repeat(201) });
    expect(errors).toEqual([{ field: 'name', detail: 'Too big: expected string to have <=200 characters' }]);
    expect(validateBody(createAgentBody, { ...valid, name: 'n'.repeat(200) }).name).toHaveLength(200);
  });

  it.each([
    ['an array', []],
    ['a string', 'name=x'],
    ['null', null],
    ['a number', 3],
  ])('rejects %s as the body with a (body) field error', (_, body) => {
    const errors = validationErrors(createAgentBody, body);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.field).toBe('(body)');
    expect(errors[0]?.detail).toMatch(/^Invalid input: expected object, received \w+$/);
  });

  it('writes human-readable English messages, not just "Invalid input"', () => {
    const errors = [
      ...validationErrors(createAgentBody, { name: '', model: 5, system_prompt: null, configuration: [] }),
      ...validationErrors(updateAgentBody, { status: 'deleted' }),
      ...validationErrors(createAgentBody, 'x'),
    ];
    for (const { field, detail } of errors) {
      expect(detail, field).not.toBe('Invalid input');
      expect(detail, field).toMatch(/^[A-Z][a-z]+( [a-z]+)*: [a-z]+ /);
      expect(detail.length, field).toBeGreaterThan(20);
    }
  });
});

describe('validateBody with updateAgentBody', () => {
  it('accepts an empty patch and any subset of fields', () => {
    expect(validateBody(updateAgentBody, {})).toEqual({});
    expect(validateBody(updateAgentBody, { status: 'paused' })).toEqual({ status: 'paused' });
    expect(validateBody(updateAgentBody, { name: ' New name ', configuration: {} })).toEqual({
      name: 'New name',
      configuration: {},
    });
  });

  it('rejects a status outside the enum, listing the allowed ones', () => {
    const errors = validationErrors(updateAgentBody, { status: 'deleted' });
    expect(errors).toEqual([
      { field: 'status', detail: 'Invalid option: expected one of "active"|"paused"' },
    ]);
    expect(fieldsOf(validationErrors(updateAgentBody, { status: 'ACTIVE' }))).toEqual(['status']);
  });

  it('rejects null for optional fields', () => {
    expect(validationErrors(updateAgentBody, { name: null })).toEqual([
      { field: 'name', detail: 'Invalid input: expected string, received null' },
    ]);
  });

  it('reports unknown fields, including fields only the server sets', () => {
    expect(validationErrors(updateAgentBody, { version: 3, created_at: 'x' })).toEqual([
      { field: 'version', detail: 'unknown field' },
      { field: 'created_at', detail: 'unknown field' },
    ]);
  });
});

describe('toFieldErrors', () => {
  it('joins nested paths with dots and names unknown nested keys by their full path', () => {
    const errors = toFieldErrors([
      { code: 'invalid_type', expected: 'number', path: ['configuration', 'temperature'], message: 'bad' },
      { code: 'unrecognized_keys', keys: ['x', 'y'], path: ['configuration'], message: 'ignored' },
      { code: 'unrecognized_keys', keys: ['z'], path: [], message: 'ignored' },
      { code: 'custom', path: [], message: 'whole body' },
    ] as Parameters<typeof toFieldErrors>[0]);
    expect(errors).toEqual([
      { field: 'configuration.temperature', detail: 'bad' },
      { field: 'configuration.x', detail: 'unknown field' },
      { field: 'configuration.y', detail: 'unknown field' },
      { field: 'z', detail: 'unknown field' },
      { field: '(body)', detail: 'whole body' },
    ]);
  });

  it('answers no errors for no issues', () => {
    expect(toFieldErrors([])).toEqual([]);
  });
});
