export { injectPodTemplate, protocolFor, INJECT_DEFAULTS } from './inject.js';
export type { InjectOptions, InjectResult, NumericTarget } from './inject.js';
export { patchServiceForAgent, restoreService } from './service-patch.js';
export { servicesSelecting } from './selectors.js';
export { diffJsonPatch } from './json-patch.js';
export type { JsonPatchOperation } from './json-patch.js';
export { reviewAdmission } from './admission.js';
export type { AdmissionAnswer, AdmissionContext, AdmissionHooks, NamespaceLookup, PodRef, ServiceLookup } from './admission.js';
export { injectManifests } from './manifests.js';
export type { ManifestFailure, ManifestsResult } from './manifests.js';
export {
  INJECT_LABEL,
  INJECT_ENABLED,
  INJECT_DISABLED,
  INJECTED_ANNOTATION,
  INTERCEPT_RESOURCE,
  ORIGINAL_TARGET_PORTS_ANNOTATION,
  TOKEN_FILE,
  TOKEN_VOLUME,
  agentPortNameForNumber,
  appPortName,
} from './names.js';
export type { Container, ContainerPort, KubeObject, ObjectMeta, PodSpec, PodTemplate, Probe, Service, ServicePort } from './objects.js';
export { appContainer, containerEnvironment, expandReferences, referencedSources } from './pod-env.js';
export type { ContainerEnvironment, EnvSources, KeyValueSource, RunningPod } from './pod-env.js';
export { uninjectPodTemplate } from './uninject.js';
export { diffMergePatch } from './merge-patch.js';
