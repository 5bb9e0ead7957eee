import { defaultFeatures, Features, featureIsWritten, featuresOfWords, typeOfFeatures, type FeatureName } from '../features.js';
import type { BuildOptions } from '../options.js';
import { formatUuid } from '../uuid.js';
import { cString, type ExtImage } from './image.js';

/**
 * What a plain rebuild keeps of its source image (issue 14's rebuild rule): type, block size,
 * inode size, UUID, label, hash seed, the features extimg writes, and the size. What cannot be
 * kept is named in `notKept`, so the caller can say it.
 */
export interface SourceIdentity {
  options: Pick<BuildOptions, 'type' | 'blockSize' | 'inodeSize' | 'uuid' | 'label' | 'hashSeed' | 'features' | 'size' | 'inodes' | 'reservedPercent'>;
  notKept: string[];
}

/** Features that describe the image's state, not its format: never carried over. */
const STATE: ReadonlySet<FeatureName> = new Set(['needs_recovery', 'orphan_present']);

export function sourceIdentity(img: ExtImage): SourceIdentity {
  const sb = img.sb;
  const names = featuresOfWords(sb.s_feature_compat, sb.s_feature_incompat, sb.s_feature_ro_compat).filter((n) => !STATE.has(n));
  const kept = names.filter((n) => featureIsWritten(n));
  const notKept: string[] = names.filter((n) => !featureIsWritten(n)).map((n) => `feature ${n}`);
  const type = typeOfFeatures(new Features(kept));
  // As -O against the type's defaults: what the source has, and ^ for what it lacks.
  const spec = [...kept, ...defaultFeatures(type).filter((n) => !kept.includes(n)).map((n) => `^${n}`)];
  const options: SourceIdentity['options'] = { type, features: [spec.join(',')], size: img.blocksCount * img.blockSize };
  if (img.blockSize === 1024 || img.blockSize === 2048 || img.blockSize === 4096) options.blockSize = img.blockSize;
  else notKept.push(`block size ${img.blockSize}`);
  if (img.inodeSize === 128 || img.inodeSize === 256) options.inodeSize = img.inodeSize;
  else notKept.push(`inode size ${img.inodeSize}`);
  options.uuid = formatUuid(sb.s_uuid);
  const label = cString(sb.s_volume_name);
  if (label !== '') options.label = label;
  if (sb.s_hash_seed.some((b) => b !== 0)) options.hashSeed = formatUuid(sb.s_hash_seed);
  // The inode count (a filesystem made for many small files keeps its inodes) and the blocks
  // reserved for root, as a percentage the writer turns back into the same count.
  options.inodes = img.inodesCount;
  const reserved = sb.s_r_blocks_count_lo + (img.descSize >= 64 ? sb.s_r_blocks_count_hi * 0x100000000 : 0);
  // A hair above the exact quotient, so that floor(blocks * percent / 100) gives `reserved` back.
  const percent = (reserved * 100 + 0.5) / img.blocksCount;
  if (percent <= 50) options.reservedPercent = percent;
  else notKept.push(`${reserved} reserved blocks (over half)`);
  return { options, notKept };
}
