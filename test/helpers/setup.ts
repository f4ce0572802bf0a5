/** Runs before every test file (jest.config.js → setupFilesAfterEnv). */
import { removeTempDirs } from './gitrepo';

afterAll(() => {
  removeTempDirs();
});
