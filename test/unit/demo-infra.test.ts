import { describe, expect, it } from 'vitest';
import { DEMO_INFRA_NAME, DEMO_LOCAL_IMAGE, DEMO_REMOTE_IMAGE, demoInfraText } from '../../src/cli/demo-infra.js';
import { validateInfraText } from '../../src/config/validate.js';

describe('the demo infra', () => {
  it.each([DEMO_LOCAL_IMAGE, DEMO_REMOTE_IMAGE])('is valid with image %s: three domains, two policies, exclusive access without a GPU', (image) => {
    const result = validateInfraText(demoInfraText(image), { file: 'demo.yml' });
    if (!result.ok) throw new Error(result.issues.map((i) => i.message).join('\n'));
    const { model } = result;
    expect(model.projectName).toBe(DEMO_INFRA_NAME);
    expect(model.domains.map((d) => d.name)).toEqual(['demo-work', 'demo-lab', 'demo-ai']);
    expect(model.policies).toHaveLength(2);
    expect(model.ai.accessPolicy).toBe('exclusive');
    expect(model.domains.flatMap((d) => d.machines).every((m) => !m.gpu && m.osImage === image)).toBe(true);
    // Every name carries the demo's prefix, so the demo never collides with a real infra's objects.
    expect(model.domains.flatMap((d) => [d.name, ...d.machines.map((m) => m.name)]).every((n) => n.startsWith('demo-'))).toBe(true);
  });

  it('quotes the image, so an image name cannot change the YAML around it', () => {
    const result = validateInfraText(demoInfraText('x\nproject_name: evil'), { file: 'demo.yml' });
    expect(result.ok && result.model.projectName).toBe(DEMO_INFRA_NAME);
  });
});
