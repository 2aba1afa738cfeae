import { describe, expect, it } from 'vitest';
import { LTI_ERROR_NAMES } from '../../../shared/errors';
import { explainError, format, LANGUAGES, MESSAGES, pickLanguage, placeholders, stepText, type UiKey } from '../../../shared/lti';
import { MAIN_STEPS } from '../../../shared/server-status';

describe('pickLanguage', () => {
  it.each([
    ['ko', 'ko'],
    ['ko-KR', 'ko'],
    ['ko_KR', 'ko'],
    ['KO-kr', 'ko'],
    ['en', 'en'],
    ['en-US', 'en'],
    ['ja-JP', 'en'],
    ['kok', 'en'],
    ['', 'en'],
    [undefined, 'en'],
  ])('chooses %s → %s', (locale, language) => {
    expect(pickLanguage(locale)).toBe(language);
  });
});

describe('the message catalogue', () => {
  it('has every UI text in both languages, with the same placeholders', () => {
    for (const key of Object.keys(MESSAGES.en.ui) as UiKey[]) {
      expect(MESSAGES.ko.ui[key], key).toEqual(expect.any(String));
      expect(placeholders(MESSAGES.ko.ui[key]), key).toEqual(placeholders(MESSAGES.en.ui[key]));
    }
    expect(Object.keys(MESSAGES.ko.ui).sort()).toEqual(Object.keys(MESSAGES.en.ui).sort());
  });

  it('explains every step of the provision state machine in both languages', () => {
    for (const language of LANGUAGES) {
      for (const step of MAIN_STEPS) {
        const text = stepText(language, step);
        expect(text?.name, `${language} ${step}`).toEqual(expect.any(String));
        expect(text?.failed.length, `${language} ${step}`).toBeGreaterThan(20);
      }
    }
    expect(stepText('en', 'IsInstallDone')).toBeUndefined();
  });

  it('explains every LTI error and the errors a provision ends with, in both languages', () => {
    const names = [...LTI_ERROR_NAMES, 'WaitTimeoutError', 'CommandFailedError', 'VcpuLimitExceeded', 'InsufficientInstanceCapacity', 'States.Timeout'];
    for (const language of LANGUAGES) {
      for (const name of names) {
        const text = explainError(language, name);
        expect(text, `${language} ${name}`).not.toBe(explainError(language, 'unknown'));
        expect(text.title.length).toBeGreaterThan(3);
        expect(text.explanation.length).toBeGreaterThan(20);
      }
    }
    expect(Object.keys(MESSAGES.ko.errors).sort()).toEqual(Object.keys(MESSAGES.en.errors).sort());
  });

  it('falls back to the unknown text for a name it cannot explain, and never uses an inherited property', () => {
    expect(explainError('en', 'SomethingNew')).toBe(MESSAGES.en.errors.unknown);
    expect(explainError('ko', 'constructor')).toBe(MESSAGES.ko.errors.unknown);
    expect(explainError('ko', undefined)).toBe(MESSAGES.ko.errors.unknown);
  });

  it('uses the AWS console’s Korean terms: 프라이빗 키 and 퍼블릭 IP, never 개인 키 or 공개 IP', () => {
    const korean = JSON.stringify(MESSAGES.ko);
    expect(korean).toContain('프라이빗 키');
    expect(korean).toContain('퍼블릭 IP');
    expect(korean).not.toMatch(/개인 키|공개 IP/);
  });

  it('has Korean that is Korean: every ko text differs from its English twin and contains Hangul', () => {
    for (const key of Object.keys(MESSAGES.en.ui) as UiKey[]) {
      expect(MESSAGES.ko.ui[key], key).not.toBe(MESSAGES.en.ui[key]);
      expect(MESSAGES.ko.ui[key], key).toMatch(/[가-힣]/);
    }
  });
});

describe('format', () => {
  it('fills placeholders in the chosen language', () => {
    expect(format('en', 'student.currentStep', { step: 'Installing', index: 5, total: 8 })).toBe('Now: Installing (step 5 of 8)');
    expect(format('ko', 'student.currentStep', { step: '설치', index: 5, total: 8 })).toBe('현재 단계: 설치 (8단계 중 5단계)');
  });

  it('leaves a placeholder without a value visible rather than blank', () => {
    expect(format('en', 'page.title.student')).toBe('Your server for {course}');
  });
});
